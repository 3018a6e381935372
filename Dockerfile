# The sentiment service with its bundled model: CPU PyTorch by default, CUDA by a build argument.
#
#   docker build -t sentiment-service .
#   docker run --rm -p 8000:8000 sentiment-service
#
# GPU hosts (NVIDIA driver + container toolkit): the CUDA wheels of PyTorch bring their own CUDA
# runtime, so the same slim base serves; pick the index that matches the host's driver.
#
#   docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128 \
#                -t sentiment-service:cuda .
#   docker run --rm --gpus all -p 8000:8000 sentiment-service:cuda
#
# Offline builds: put torch's wheel (e.g. torch-2.13.0+cpu-cp311-...whl) in ./wheels/ (see
# wheels/README.md) and it is installed from there instead of TORCH_INDEX_URL.
# The classic builder is enough: no BuildKit features are used.

# ---- build: a virtual environment with torch, the dependencies and the project ----------------
FROM python:3.11-slim AS build

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv

# torch first and on its own: the largest layer, rebuilt only when the version or index changes.
# Its C++ headers, C++ test programs and protoc (about 190 MB) serve no purpose at run time.
# ./wheels/ holds only its README unless you put wheels there for an offline build.
COPY wheels/ /tmp/wheels/
RUN set -e; \
    if ls /tmp/wheels/torch-"${TORCH_VERSION}"*.whl >/dev/null 2>&1; then \
        pip install /tmp/wheels/torch-"${TORCH_VERSION}"*.whl; \
    else \
        pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"; \
    fi; \
    rm -rf /tmp/wheels; \
    torch_dir=$(python -c "import os, torch; print(os.path.dirname(torch.__file__))"); \
    rm -rf "$torch_dir/test" "$torch_dir/include"; \
    find "$torch_dir/bin" -type f ! -name torch_shm_manager -delete

# The runtime dependencies, read from pyproject.toml: cached until that file changes.
WORKDIR /src
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# The project itself, with the bundled model as package data (model/bundled/imdb-bilstm/).
COPY README.md ./
COPY model ./model
COPY service ./service
COPY training ./training
COPY bulk ./bulk
RUN pip install --no-deps . \
    && python -c "import service.app, torch; print('torch', torch.__version__)"

# ---- runtime: the environment alone, as an unprivileged user -----------------------------------
FROM python:3.11-slim AS runtime

RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin sentiment
COPY --from=build /opt/venv /opt/venv

# Every setting is a SENTIMENT_* variable (see `sentiment-serve --help`); these are the image's
# defaults. Left at 0, SENTIMENT_INFERENCE_THREADS and SENTIMENT_TORCH_THREADS split the CPUs the
# container may use (docker run --cpus is honoured): on 2 CPUs, two batches at once, one torch
# thread each. With one torch thread per batch no OpenMP thread waits for another, so no
# OMP_WAIT_POLICY is needed (PASSIVE cut short-text throughput in half and long-text throughput
# eightfold on a dedicated 2-CPU machine: docs/deployment.md).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SENTIMENT_HOST=0.0.0.0 \
    SENTIMENT_PORT=8000 \
    SENTIMENT_LOG_FORMAT=json

# Numeric, so that Kubernetes' runAsNonRoot can check it.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000

# Ready means loaded and warmed up; /readyz answers 503 before that and while draining.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('SENTIMENT_PORT', '8000'), timeout=2)"]

# SIGTERM drains requests in flight (SENTIMENT_DRAIN_TIMEOUT_S) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["sentiment-serve"]
