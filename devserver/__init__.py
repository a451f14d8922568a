"""The dev launcher behind `make run`: one process serving all five services on :8080."""
