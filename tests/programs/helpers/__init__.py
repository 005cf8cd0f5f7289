"""Modules the programs in tests/programs call, one per role.

Each helper makes one distinctive syscall (or a short, known sequence) so a trace can be checked module by
module. The package body itself does nothing: importing `helpers.x` must not charge anything to `helpers`
that the tests look at.
"""
