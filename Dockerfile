# Airflow image for the datacentric project, used by every Airflow service in docker-compose.yaml.
#
# Extends the official image the way its docs recommend (docker-stack "Building the image"):
# the pinned lock (the same requirements.txt that `make install` and `make stack` use, CeleryExecutor,
# PostgreSQL drivers and all) is installed as the airflow user, with apache-airflow itself pinned to the
# image's version on the same command line so that pip can never up- or downgrade Airflow.
# The Python minor version must match the one requirements.txt was locked with (3.11).
FROM apache/airflow:3.3.2-python3.11

USER airflow

COPY --chown=airflow:root requirements.txt /requirements.txt
# AIRFLOW_VERSION is set by the official image.
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r /requirements.txt

# The project's code, so the image runs without the development bind mounts of
# docker-compose.yaml (which mount the same folders over these copies).
COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root dags/ /opt/airflow/dags/

# include/datacentric is the domain library imported by DAGs and plugins.
ENV PYTHONPATH=/opt/airflow/include

# The container's local data folder (DATACENTRIC_VAR) and the mount point of the storage that
# every worker shares (DATACENTRIC_SHARED, see docker-compose.yaml). Created here, owned by airflow,
# so that a named volume mounted on them starts out writable by the airflow user (Docker copies the
# image folder's ownership into a new volume).
ENV DATACENTRIC_VAR=/opt/airflow/var
RUN mkdir -p /opt/airflow/var /opt/airflow/shared
