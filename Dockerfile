# The linecast image: one image for the API (`serve`, the default command), the training `worker`
# and `migrate`; docker-compose.yml runs each of them from it.
#
# Two stages, so the runtime image holds the installed virtualenv and the sources but none of
# pip's build environments. Dependencies are installed from the lock (requirements.txt, written
# by `make lock`: the versions the tests ran with) before the sources are copied: editing code
# rebuilds only the last, small layers.

FROM python:3.11-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY requirements.txt ./
# torch first, at the lock's version (`torch==2.13.0+cpu`), which only PyTorch's CPU index has:
# PyPI's build would also pull the CUDA libraries (several GB) that this CPU-only service never
# loads. Then the rest of the lock from PyPI; the torch installed already satisfies its line.
RUN pip install --no-deps --index-url https://download.pytorch.org/whl/cpu \
        "$(grep '^torch==' requirements.txt)" \
    && pip install -r requirements.txt
COPY pyproject.toml README.md alembic.ini ./
COPY app/ app/
COPY model/ model/
COPY preprocessing/ preprocessing/
COPY migrations/ migrations/
# Editable, with /app at the same path in both stages: app/db/migrate.py finds migrations/ beside
# the `app` package, which a regular install into site-packages would leave behind. Built with
# the lock's setuptools, and `pip check` fails the build if the lock misses a dependency.
RUN pip install --no-deps --no-build-isolation -e . && pip check

FROM python:3.11-slim
# LINECAST_DATA_DIR: production settings refuse the default ./var (see app/settings.py). Nothing
# kept there needs a volume while PostgreSQL holds the data and the models.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LINECAST_DATA_DIR=/var/lib/linecast
# A fixed numeric id, so that volume permissions and "run as non-root" checks can rely on it.
RUN groupadd --system --gid 10001 linecast \
    && useradd --system --uid 10001 --gid linecast --create-home --shell /usr/sbin/nologin \
        linecast \
    && install -d -o linecast -g linecast /var/lib/linecast
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
WORKDIR /app
USER 10001:10001
EXPOSE 8000
# The API's liveness, with python because the slim image has no curl. Services of this image that
# serve no HTTP (worker, migrate) switch it off in docker-compose.yml.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["linecast"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
