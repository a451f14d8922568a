"""The dev launcher behind `make run`: one process serving all four services on :8080."""
