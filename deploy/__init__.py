"""Deployment of the MES stack: nginx and Mosquitto configuration, compose, `make stack`.

A package so the tests and `make stack` share one implementation of each step
(`deploy.nginx.render`, `deploy.mosquitto.generate`, `deploy.stack` with its
`deploy.supervisor` and `deploy.stack_config`, `deploy.migrate`).
"""
