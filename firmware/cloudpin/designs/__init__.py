# Achievement designs: the event pack, the unlock engine, the drawing.
