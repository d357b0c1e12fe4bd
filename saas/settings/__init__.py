"""Settings package: ``base`` holds everything, the others adjust it.

``local`` is the default (``manage.py``, ``celery``), ``test`` is used by
pytest and ``production`` by gunicorn and the docker images.
"""
