"""The optional jobboard feature: a real Redis server (``redis_server``), conductors that
die on cue (``conductor``), and the board tests post jobs to (``board``).

The core (plan, engine, run, checks) never imports this package; it imports nothing here,
so that ``redis_server`` can be used without TaskFlow's jobboard machinery.
"""
