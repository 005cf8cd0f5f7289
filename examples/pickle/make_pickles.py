"""Writes the demo's pickles into a directory (default: this one).

    benign.pkl   a plain dict of weights
    exploit.pkl  the seed's exact bytes: eval("__import__('os').system('echo Exploited!')")
    touch.pkl    (with --marker PATH) the same exploit running `touch PATH`, so tests
                 can check that the command never ran
"""
import argparse
import os
import pickle

# The seed's exploit, byte for byte (pickle.dumps of a class whose __reduce__
# returns (eval, ("__import__('os').system('echo Exploited!')",))).
SEED_EXPLOIT = (
    b"\x80\x04\x95F\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94"
    b"\x8c*__import__('os').system('echo Exploited!')\x94\x85\x94R\x94."
)


class Exploit:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (eval, (f"__import__('os').system({self.command!r})",))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default=os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--marker", help="also write touch.pkl, whose payload runs `touch MARKER`")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    weights = {"layer1": [0.1, 0.2, 0.3], "layer2": [1.0, -1.0], "step": 2000}
    with open(os.path.join(args.dir, "benign.pkl"), "wb") as f:
        pickle.dump(weights, f)
    with open(os.path.join(args.dir, "exploit.pkl"), "wb") as f:
        f.write(SEED_EXPLOIT)
    if args.marker:
        with open(os.path.join(args.dir, "touch.pkl"), "wb") as f:
            pickle.dump(Exploit(f"touch {args.marker}"), f)


if __name__ == "__main__":
    main()
