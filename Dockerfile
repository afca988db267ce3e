# One image for every ticketflow process: the API (default), the Kafka-mode workers
# (`worker inbound|relay|projection NAME`) and `topics create`. See docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY projections ./projections
RUN pip install ".[postgres]" \
    && rm -rf /src/build /src/*.egg-info

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin ticketflow
USER ticketflow
WORKDIR /home/ticketflow
# The embedded default's files, when no PostgreSQL is configured.
ENV TICKETFLOW_HOME=/home/ticketflow/data

EXPOSE 8080
ENTRYPOINT ["ticketflow"]
CMD ["serve", "--host", "0.0.0.0"]
