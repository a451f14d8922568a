"""Common library of the MES integration services: envelope, errors, config, db, auth, logging."""
