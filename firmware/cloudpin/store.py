# Persistent JSON documents that survive power loss at any instant.
# save() writes a temp file and renames it over the old one: LittleFS renames
# atomically, so a reader sees the old document or the new one, never half.
# load() validates and never raises on a corrupt or missing file.
import json
import os


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


class Store:
    def __init__(self, path, validate=None, log=None):
        """validate(doc) returns the (possibly cleaned) doc or raises ValueError."""
        self.path = path
        self._validate = validate
        self._log = log

    def load(self, default=None):
        """The stored document, or `default` when absent, unreadable or invalid."""
        tmp = self.path + ".tmp"
        if _exists(tmp):
            # A save was cut off before its rename: the old file is intact.
            try:
                os.remove(tmp)
            except OSError:
                pass
        try:
            with open(self.path) as f:
                doc = json.load(f)
            if self._validate is not None:
                doc = self._validate(doc)
            return doc
        except OSError:
            return default
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
            # Corrupt: keep it aside for a post-mortem, start from the default.
            if self._log:
                self._log.warning("corrupt %s (%s): using defaults" % (self.path, e))
            try:
                os.rename(self.path, self.path + ".bad")
            except OSError:
                pass
            return default

    def save(self, doc):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f)
        # Remove first: FAT (used by some boards) cannot rename over a file.
        # On LittleFS rename replaces atomically, so try that first.
        try:
            os.rename(tmp, self.path)
        except OSError:
            try:
                os.remove(self.path)
            except OSError:
                pass
            os.rename(tmp, self.path)
