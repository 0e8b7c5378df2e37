# syntax=docker/dockerfile:1
# rowgate's image.  The wheel (and every dependency's) is built once in the first stage; the runtime
# installs them without the embedded PostgreSQL (containers use a real one: set
# ROWGATE_DATABASE_URL) and runs as an unprivileged user.
#
#   docker build -t rowgate .
#   docker run -e ROWGATE_DATABASE_URL=... -e ROWGATE_REDIS_URL=... -e ROWGATE_MASTER_KEY=... \
#              -e ROWGATE_PUBLIC_URL=https://auth.example.com -p 8080:8080 rowgate

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rowgate rowgate
COPY config config
COPY auth auth
COPY rls rls
COPY proxy proxy
RUN pip wheel --no-cache-dir --wheel-dir /wheels . \
 && rm /wheels/pgserver-*.whl

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/rowgate --shell /usr/sbin/nologin rowgate
COPY --from=build /wheels /wheels
# --no-deps: every dependency is among the wheels, except pgserver, which is left out on purpose.
RUN pip install --no-cache-dir --no-deps /wheels/*.whl && rm -rf /wheels
USER rowgate
WORKDIR /var/lib/rowgate
ENV ROWGATE_MODE=production \
    ROWGATE_DATA_DIR=/var/lib/rowgate \
    PYTHONUNBUFFERED=1
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)"]
ENTRYPOINT ["rowgate"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
