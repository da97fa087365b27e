# Meet and greet, the parts that need no hardware: key derivation (kdf),
# the advertisement codec and friend recognition (advert), the friend list
# on flash (friends) and the day's counters (daily). See docs/meet-and-greet.md.
