"""python -m devserver: what `make run` runs."""

from devserver.launcher import main

if __name__ == "__main__":
    main()
