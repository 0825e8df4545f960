# The streamkpi image: one console script, `streamkpi`, for workers
# (`streamkpi run`) and the simulator (`streamkpi simulate --live`).
# Built by docker-compose.yml; see docs/operations.md.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# .dockerignore lets only the package in: pyproject.toml, README.md, engine/, events/, tables/.
COPY . /tmp/streamkpi
RUN pip install /tmp/streamkpi && rm -rf /tmp/streamkpi

# An unprivileged user; the engine only writes temporary files.
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/streamkpi streamkpi
USER streamkpi
WORKDIR /var/lib/streamkpi

# Workers serve Prometheus text at :8000/metrics on every interface of the container.
ENV STREAMKPI_METRICS_PORT=8000 \
    STREAMKPI_METRICS_BIND=0.0.0.0
EXPOSE 8000

# No HEALTHCHECK here: the same image runs the simulator, which serves nothing.
# docker-compose.yml gives the workers theirs.
ENTRYPOINT ["streamkpi"]
CMD ["run"]
