"""Functions that misbehave: the sandbox must stop each one cleanly."""
import socket

from ripple import action, query


@query
def spin(ctx, args):
    n = 0
    while True:
        n += 1


@query
def hog(ctx, args):
    chunks = []
    while True:
        chunks.append(bytearray(1 << 20))


@query
def read_file(ctx, args):
    with open("/etc/passwd") as f:
        return f.read()


@query
def connect(ctx, args):
    s = socket.create_connection(("127.0.0.1", 9), timeout=1)
    return "connected"


@query
def clock(ctx, args):
    import time
    first = time.time()
    sum(range(200_000))  # real time passes; the function's clock does not
    return [first, time.time(), ctx.now()]


@query
def ok(ctx, args):
    return "fine"
