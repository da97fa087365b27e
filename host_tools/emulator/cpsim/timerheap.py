# The heap of SimLoop's timers (cpsim.simloop). Timers due at the same
# instant come out in an order set by the heap's shape, and which of two pins
# runs first is behaviour (they share the radio's random draws): so this is
# heapq's own algorithm (heappush, heappop and heapify of CPython's
# _heapq.c), leaving every item where heapq would, written out so that it
# knows which places it changed.
#
# What that buys: when one pin's timers move (its clock stepped in a sleep,
# SimLoop.shift) the whole heap must be heapified again, every pin's timers,
# a few thousand in a 400-pin hall at every pin's wake-up. heapify sifts each
# parent, children first, and sifting parent i changes nothing exactly when
# its item is less than its smaller child: then the path it would go down is
# all larger than it, and it comes back up to i. So only a parent whose item
# or children were written (or moved in time) since it was last looked at,
# or that was not less then (equal times), can change anything: `dirty`
# holds them, and reheap() visits those, highest first, plus the parent of
# each one it really sifts. The result is heapify's, place for place
# (tests/test_simloop_heap.py checks it against heapq with many equal times).
#
# Entries are lists [when] (cpsim.simloop._Due) with a `pos` slot kept here.
from heapq import heapify, heappop, heappush


class TimerHeap:
    def __init__(self):
        self.a = []  # the heap (SimLoop._scheduled)
        self.dirty = set()  # parents to look at in the next reheap()

    def _siftdown(self, startpos, pos):
        # heapq._siftdown: the item at pos moves up while less than its parent
        a = self.a
        d = self.dirty
        item = a[pos]
        v = item[0]
        while pos > startpos:
            pp = (pos - 1) >> 1
            parent = a[pp]
            if v < parent[0]:
                a[pos] = parent
                parent.pos = pos
                d.add(pos)
                pos = pp
                continue
            break
        a[pos] = item  # (less than the children it got: no look needed at pos)
        item.pos = pos
        if pos:
            d.add((pos - 1) >> 1)

    def _siftup(self, pos):
        # heapq._siftup, net: it moves the smaller child up (the right one on
        # a tie) all the way to a leaf, puts the item there and lets it rise
        # while less than its parent. The children's heaps below are valid,
        # so the path is in order and the item comes to rest just below the
        # last path item not greater than it: those move up one place each,
        # and everything below them goes back where it was.
        a = self.a
        end = len(a)
        start = pos
        item = a[pos]
        v = item[0]
        d = self.dirty
        child = 2 * pos + 1
        while child < end:
            c = a[child]
            right = child + 1
            if right < end and not c[0] < a[right][0]:
                child = right
                c = a[right]
            if v < c[0]:
                break
            a[pos] = c
            c.pos = pos
            d.add(pos)
            pos = child
            child = 2 * pos + 1
        if pos != start:  # (start's parent: reheap() looks at it next)
            a[pos] = item
            item.pos = pos
            d.add(pos)

    def push(self, k):
        a = self.a
        a.append(k)
        self._siftdown(0, len(a) - 1)

    def pop(self):
        a = self.a
        last = a.pop()
        if not a:
            return last
        # (the parent that lost its last child needs no look: with fewer
        # children it can only have become less than the smaller one)
        top = a[0]
        a[0] = last
        last.pos = 0
        self._siftup(0)  # (if it stays, it is less than its children)
        return top

    def moved(self, k):
        """Entry k's time was changed in place: reheap() will look at it."""
        i = k.pos
        d = self.dirty
        d.add(i)
        if i:
            d.add((i - 1) >> 1)

    def reheap(self):
        """heapq.heapify(self.a), visiting only what can change."""
        a = self.a
        half = len(a) >> 1
        todo = [-i for i in self.dirty if i < half]
        self.dirty = set()
        queued = set(todo)
        heapify(todo)
        while todo:
            i = -heappop(todo)
            c = 2 * i + 1
            m = a[c][0]
            if c + 1 < len(a) and a[c + 1][0] < m:
                m = a[c + 1][0]
            if a[i][0] < m:
                continue  # sifting it would leave everything where it is
            self._siftup(i)  # moves something: i's item is not less than a child
            if i:
                p = -((i - 1) >> 1)
                if p not in queued:
                    queued.add(p)
                    heappush(todo, p)
