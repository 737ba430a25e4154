"""The sample app the lessons build: a greeting, and a visit counter with a database.

Without database settings it only greets. With MYSQL_HOST (and MYSQL_USER,
MYSQL_PASSWORD, MYSQL_DATABASE) it counts visits in MariaDB/MySQL.

Its compiled part, greet.c, gives each container a short fingerprint. The
Dockerfiles compile it to greet.so; an image built without it still answers,
and says what is missing.
"""

import logging
import os
import socket
import sys

import pymysql
from flask import Flask

try:
    import greet  # greet.so, compiled from greet.c by the Dockerfile
except ImportError:
    greet = None

# The first words of every page: change them, rebuild the image, run it again.
GREETING = "Hello from Docker!"

app = Flask(__name__)

# Request lines go to stdout, so `docker logs` shows every visit.
logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")


def db_settings():
    host = os.environ.get("MYSQL_HOST")
    if not host:
        return None
    return {
        "host": host,
        "port": int(os.environ.get("MYSQL_PORT", "3306")),
        "user": os.environ.get("MYSQL_USER", "root"),
        "password": os.environ.get("MYSQL_PASSWORD", ""),
        "database": os.environ.get("MYSQL_DATABASE", "visits"),
        "connect_timeout": 5,
    }


def count_visit(settings):
    connection = pymysql.connect(**settings, autocommit=True)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE IF NOT EXISTS visits ("
                " id INT AUTO_INCREMENT PRIMARY KEY,"
                " at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)"
            )
            cursor.execute("INSERT INTO visits () VALUES ()")
            cursor.execute("SELECT COUNT(*) FROM visits")
            return cursor.fetchone()[0]
    finally:
        connection.close()


def text(body, status=200):
    return body, status, {"Content-Type": "text/plain; charset=utf-8"}


def compiled_line(hostname):
    if greet is None:
        return "No compiled part in this image: greet.so was not built into it.\n"
    fingerprint = greet.fingerprint(hostname)
    return f"Its fingerprint, from the compiled part (greet.c): {fingerprint:08x}\n"


@app.route("/")
def hello():
    hostname = socket.gethostname()
    greeting = f"{GREETING} This is container {hostname}.\n" + compiled_line(hostname)
    settings = db_settings()
    if settings is None:
        return text(greeting)
    try:
        visits = count_visit(settings)
    except pymysql.MySQLError as exc:
        app.logger.warning("database unavailable: %s", exc)
        return text(greeting + f"The database at {settings['host']} is not answering yet.\n", 503)
    times = "time" if visits == 1 else "times"
    return text(greeting + f"This page has been visited {visits} {times}.\n")


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5002)
