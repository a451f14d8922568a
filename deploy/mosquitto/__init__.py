"""Mosquitto configuration of the MES and the generator of its passwords and ACLs."""
