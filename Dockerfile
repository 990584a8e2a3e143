# One image for every GradeFlow role: `gradeflow api | worker | dashboard | migrate | seed`. Without the embedded
# servers (the `embedded` extra): in production PostgreSQL, Redis and Temporal are services of their own.
FROM python:3.11.10-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 GRADEFLOW_HOME=/var/lib/gradeflow
WORKDIR /app
# The toolchains a worker grades with besides Python (gradeflow/languages): Debian's C, C++, Java 17 and Node.js. A
# worker grades every language whose toolchain it finds; drop a package to drop its language.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc g++ libc6-dev openjdk-17-jdk-headless nodejs \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md alembic.ini ./
COPY gradeflow ./gradeflow
COPY workflows ./workflows
COPY activities ./activities
COPY sandbox ./sandbox
COPY api ./api
COPY dashboard ./dashboard
COPY worker ./worker
COPY migrations ./migrations
# GRADEFLOW_HOME belongs to the unprivileged user: seeded tokens and the API's metrics files go there (a named
# volume mounted on it starts with this ownership).
RUN pip install . \
    && useradd --create-home --uid 10001 gradeflow \
    && mkdir -p /var/lib/gradeflow \
    && chown gradeflow:gradeflow /var/lib/gradeflow
USER gradeflow
ENTRYPOINT ["gradeflow"]
CMD ["api", "--host", "0.0.0.0"]
