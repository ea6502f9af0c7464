# PgBouncer 1.18 from Debian 12, run as a numeric non-root user with the
# configuration the compose file mounts (pgbouncer.ini and userlist.txt in
# /etc/pgbouncer/). Debian's package is the PgBouncer the tests run against.
FROM debian:12.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends pgbouncer postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10002 bouncer \
    && useradd --system --uid 10002 --gid 10002 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin bouncer
# PgBouncer refuses to run as root.
USER 10002:10002
EXPOSE 6432
# Is PgBouncer taking connections? (pg_isready only asks whether it answers;
# a refused login still counts as up.)
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "6432"]
ENTRYPOINT ["/usr/sbin/pgbouncer"]
CMD ["/etc/pgbouncer/pgbouncer.ini"]
