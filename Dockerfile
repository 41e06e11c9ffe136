# The image for the Prefect work pools (ECS, Kubernetes, or a process worker in a container).
# Dependencies are the hash-checked pins of requirements-runtime.lock (scripts/lock.sh), the project
# is installed, and this repository's flow code sits at /app = OLIST_ETL_DIR: the deployments' pull
# step changes into it and loads flows/olist_sync.py from there. Nothing secret is baked in: URLs,
# passwords and keys come at run time from the work pool's environment, Prefect blocks
# (OLIST_BLOCKS) or an IAM task role. docs/prefect.md has the build, push and work pool steps.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/olist-etl \
    PATH=/opt/olist-etl/bin:$PATH \
    OLIST_ETL_DIR=/app \
    OLIST_HOME=/home/olist/.olist \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

# A fixed uid so Kubernetes' runAsNonRoot can verify it; the code stays root-owned and read-only.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin olist \
 && python -m venv /opt/olist-etl

WORKDIR /app

# The lock alone first, so a code change reuses the dependency layer.
COPY requirements-runtime.lock ./
RUN pip install --require-hashes -r requirements-runtime.lock

# What a flow run needs: the package, the flow and its tasks, the SQL, the GX suites, the deployments.
COPY pyproject.toml README.md ./
COPY olist_etl/ olist_etl/
COPY flows/ flows/
COPY tasks/ tasks/
COPY sql/ sql/
COPY expectations/ expectations/
COPY deployments/ deployments/
RUN pip install --no-deps . \
 && rm -rf build \
 && olist-etl --help >/dev/null

USER olist

# No ENTRYPOINT: ECS and Kubernetes work pools run their own command (`prefect flow-run execute`)
# in this image unchanged. Run alone, the image is a process worker on the olist-process pool.
CMD ["prefect", "worker", "start", "--pool", "olist-process"]
