"""Failure risk (issue 16): features per machine and hour, a scikit-learn model trained on the
MES history with a time split and a model card, the periodic scorer, its alerts and routes."""
