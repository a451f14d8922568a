"""nginx configuration templates of the MES and their renderer (`render.py`)."""
