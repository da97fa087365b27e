"""One worker per port: deploy, flash and the desk's provision serve many
badges at once, and each port's work is serial I/O that waits on its badge,
so each gets a thread of its own."""
import os
import threading


def crashed(port, e):
    """The message of a worker that raised: that port's failure only."""
    return "%s: %s: %s" % (port, type(e).__name__, e)


def each_port(ports, work, failed, done=None, name="port", daemon=False):
    """work(port) for every port at once; {port: result} in the order given.
    An exception in one port's work becomes that port's result,
    failed(port, exception), and the others go on. done(port, result) hears
    each port as it finishes. daemon: workers do not hold the process open
    after an interrupt (flash: the esptool processes are their own)."""
    results = {}

    def one(port):
        try:
            results[port] = work(port)
        except Exception as e:  # one port's crash is that port's failure only
            results[port] = failed(port, e)
        if done:
            done(port, results[port])

    ports = list(dict.fromkeys(ports))
    threads = [threading.Thread(target=one, args=(p,), name="%s-%s" % (name, os.path.basename(p)), daemon=daemon)
               for p in ports]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {p: results[p] for p in ports}
