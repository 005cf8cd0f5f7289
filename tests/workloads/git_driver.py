"""Acceptance workload: drive git with subprocess.run in a temporary directory.

    python git_driver.py [--commits N] [--extra]

init, config, add, commit (N times), log; with --extra also status, diff,
branch, tag, show and log --stat (the "different input" of the same kind).
Exit 0 on success.
"""
import argparse
import os
import subprocess
import tempfile


def git(repo, *args):
    r = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=3)
    ap.add_argument("--extra", action="store_true")
    args = ap.parse_args()
    env = {"GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z"}
    os.environ.update(env)
    with tempfile.TemporaryDirectory(prefix="accept-git-") as repo:
        git(repo, "init", "-q", "-b", "main")
        git(repo, "config", "user.email", "a@example.invalid")
        git(repo, "config", "user.name", "Acceptance")
        for i in range(args.commits):
            with open(os.path.join(repo, f"file{i % 2}.txt"), "a") as f:
                f.write(f"line {i}\n")
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", f"commit {i}")
        log = git(repo, "log", "--oneline")
        assert len(log.splitlines()) == args.commits, log
        if args.extra:
            with open(os.path.join(repo, "file0.txt"), "a") as f:
                f.write("dirty\n")
            git(repo, "status", "--porcelain")
            git(repo, "diff")
            git(repo, "branch", "feature")
            git(repo, "tag", "v1")
            git(repo, "show", "--stat", "HEAD")
            git(repo, "log", "--stat")
    print(f"git: {args.commits} commits{' + extra commands' if args.extra else ''}", flush=True)


if __name__ == "__main__":
    main()
