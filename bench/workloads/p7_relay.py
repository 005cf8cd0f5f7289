"""P7's second module: two of the three functions its deep recursion cycles
through (p7_stat_deep1000.dive -> relay -> hop -> dive ...), so the module on
the stack changes every few frames. Not a workload of its own."""


def relay(levels, n, path, dive, hot):
    if levels <= 0:
        return hot(n, path)
    return hop(levels - 1, n, path, dive, hot)


def hop(levels, n, path, dive, hot):
    if levels <= 0:
        return hot(n, path)
    return dive(levels - 1, n, path)
