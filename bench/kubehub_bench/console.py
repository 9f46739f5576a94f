"""Progress lines on standard output."""


def say(text):
    print(f"\n==> {text}", flush=True)


def note(text):
    print(f"    {text}", flush=True)
