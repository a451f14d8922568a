"""The dev launcher behind `make run`: one process serving all three services on :8080."""
