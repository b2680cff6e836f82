"""callbridge engine: the call lifecycle domain, its store, timers, carriers and notifications.

The engine never imports ``web``; the web layer borrows the engine's unit of work.
"""
