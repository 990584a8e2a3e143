# One image for every GradeFlow role: `gradeflow api | worker | dashboard | migrate | seed`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY gradeflow ./gradeflow
COPY workflows ./workflows
COPY activities ./activities
COPY sandbox ./sandbox
COPY api ./api
COPY dashboard ./dashboard
COPY worker ./worker
COPY migrations ./migrations
RUN pip install . && useradd --create-home --uid 10001 gradeflow
USER gradeflow
ENTRYPOINT ["gradeflow"]
CMD ["api", "--host", "0.0.0.0"]
