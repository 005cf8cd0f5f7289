// The argument classes: forms of a syscall that the kernel side tells apart
// by its register arguments (and, for addresses, the first bytes they point
// to), each with its own number above the syscall numbers so that policies,
// traces, bitmaps and reports treat `openat:write` like any syscall.
//
// This file is the one source of these numbers. It is plain data so that it
// can be `include!`d both by the policy crate (`rights.rs`) and by the engine's
// build script, which writes it out as `enum si_right` for the BPF code
// (`RIGHT_<SYSCALL>_<CLASS>`, upper case, `-` as `_`).
//
// Columns: number, syscall, class, kind, description. Kind `dangerous`: never
// allowed by base, startup or frameless (only a module's own list or
// `children`); `watched`: told apart and recorded, and allowed wherever a
// policy lists it, base included (the dynamic loader maps native code
// lazily, on a first getaddrinfo or thread exit: which module is on the
// stack then is a matter of timing). A hand-written policy can keep it from
// base. A syscall with classes keeps its plain name for
// the form no class describes (`openat` reads; `clone` starts a thread).
&[
    (512, "open", "write", "dangerous", "with O_WRONLY, O_RDWR, O_CREAT, O_TRUNC or O_APPEND"),
    (513, "openat", "write", "dangerous", "with O_WRONLY, O_RDWR, O_CREAT, O_TRUNC or O_APPEND"),
    (514, "openat2", "write", "dangerous", "with O_WRONLY, O_RDWR, O_CREAT, O_TRUNC or O_APPEND"),
    (515, "clone", "process", "dangerous", "starting a process (no CLONE_THREAD)"),
    (516, "clone3", "process", "dangerous", "starting a process (no CLONE_THREAD)"),
    (517, "kill", "other", "dangerous", "aimed at another process"),
    (518, "tgkill", "other", "dangerous", "aimed at another process"),
    (519, "tkill", "other", "dangerous", "aimed at another thread"),
    (520, "socket", "unix", "dangerous", "a local (AF_UNIX) socket"),
    (521, "socket", "inet", "dangerous", "an IPv4 or IPv6 (AF_INET, AF_INET6) socket"),
    (522, "socket", "netlink", "dangerous", "a netlink (AF_NETLINK) socket"),
    (523, "socket", "packet", "dangerous", "a raw link-level (AF_PACKET) socket"),
    (524, "socket", "other", "dangerous", "a socket of any other family"),
    (525, "connect", "unix", "dangerous", "to a local (AF_UNIX) address"),
    (526, "connect", "inet", "dangerous", "to an IPv4 or IPv6 address"),
    (527, "connect", "other", "dangerous", "to an address of another family (or unreadable)"),
    (528, "bind", "unix", "dangerous", "to a local (AF_UNIX) address"),
    (529, "bind", "inet", "dangerous", "to an IPv4 or IPv6 address"),
    (530, "bind", "other", "dangerous", "to an address of another family (or unreadable)"),
    (531, "sendto", "unix", "dangerous", "with a local (AF_UNIX) destination address"),
    (532, "sendto", "inet", "dangerous", "with an IPv4 or IPv6 destination address"),
    (533, "sendto", "other", "dangerous", "with a destination of another family (or unreadable)"),
    (534, "sendmsg", "unix", "dangerous", "with a local (AF_UNIX) destination address"),
    (535, "sendmsg", "inet", "dangerous", "with an IPv4 or IPv6 destination address"),
    (536, "sendmsg", "other", "dangerous", "with a destination of another family (or unreadable)"),
    (537, "mmap", "exec", "watched", "mapping memory executable (PROT_EXEC): loading native code"),
    (538, "mprotect", "exec", "watched", "making memory executable (PROT_EXEC)"),
    (539, "pkey_mprotect", "exec", "watched", "making memory executable (PROT_EXEC)"),
    (540, "ioctl", "tty-inject", "dangerous", "TIOCSTI or TIOCLINUX: typing into a terminal"),
    (541, "prctl", "dumpable", "dangerous", "PR_SET_DUMPABLE: hiding the process from inspection"),
    (542, "prctl", "ptracer", "dangerous", "PR_SET_PTRACER: letting another process trace this one"),
    (543, "fcntl", "setown", "dangerous", "F_SETOWN, F_SETOWN_EX or F_SETSIG: signals sent to another process"),
    (544, "open", "pycache", "import", "writing a compiled module: NAME.pyc (or NAME.pyc.TEMP) in a __pycache__ directory"),
    (545, "openat", "pycache", "import", "writing a compiled module: NAME.pyc (or NAME.pyc.TEMP) in a __pycache__ directory"),
    (546, "openat2", "pycache", "import", "writing a compiled module: NAME.pyc (or NAME.pyc.TEMP) in a __pycache__ directory"),
    (547, "mkdir", "pycache", "import", "creating a __pycache__ directory"),
    (548, "mkdirat", "pycache", "import", "creating a __pycache__ directory"),
    (549, "rename", "pycache", "import", "renaming within __pycache__ directories (NAME.pyc.TEMP to NAME.pyc)"),
    (550, "renameat", "pycache", "import", "renaming within __pycache__ directories (NAME.pyc.TEMP to NAME.pyc)"),
    (551, "renameat2", "pycache", "import", "renaming within __pycache__ directories (NAME.pyc.TEMP to NAME.pyc)"),
    (552, "unlink", "pycache", "import", "removing a compiled module's temporary file in a __pycache__ directory"),
    (553, "unlinkat", "pycache", "import", "removing a compiled module's temporary file in a __pycache__ directory"),
]
