# Runs after boot.py on every reset. Ctrl-C at the REPL stops the app.
from cloudpin import app

app.main()
