# The wearer's phone service: protocol (byte formats, crypto), service
# (request handlers and session state) and the GATT role. docs/phone-api.md.
