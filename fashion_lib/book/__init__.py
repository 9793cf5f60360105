"""Running the book: notebooks executed with papermill, then built with Jupyter Book."""
