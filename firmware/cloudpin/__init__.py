# CloudPin firmware package. Nothing here runs at import time.
VERSION = "0.1.0"
