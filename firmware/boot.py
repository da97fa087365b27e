# Runs first on every reset. Kept tiny: a bug here can make a pin unreachable
# over the REPL, so everything else lives in main.py and the cloudpin package.
import gc

gc.collect()
