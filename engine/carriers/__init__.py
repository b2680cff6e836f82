"""Carrier drivers: they place legs and turn what the network says into leg events."""
