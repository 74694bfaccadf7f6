#!/usr/bin/env bash
# Puts a real Apache Kafka broker's jars where the audit-topic tests find them (tests/support/kafka_broker.py,
# docs/audit.md "Kafka"): kafka_2.13 and its runtime dependencies from Maven Central, as tools/kafka/pom.xml
# pins them, run with the machine's Java (17 or newer).
#
#   tools/fetch-kafka.sh VENV_BIN [KAFKA]
#
# KAFKA is `fetch` (default): `mvn dependency:copy-dependencies` into a cache outside the clone keyed by version
# (${XDG_CACHE_HOME:-~/.cache}/podforge/kafka-<version>/lib), reused when already fetched (the stamp holds the
# hash of the pom, so an edited pom fetches again); `skip`: change nothing (the Kafka tests then skip); or the
# path of a directory holding kafka_2.13-*.jar and its dependencies (a distribution's libs/): link that. Either
# way the directory is linked as kafka-lib beside VENV_BIN (VENV/kafka-lib), where the tests look for it.
set -euo pipefail

venv_bin=${1:?usage: tools/fetch-kafka.sh VENV_BIN [fetch|skip|/path/to/dir-with-kafka-jars]}
kafka=${2:-fetch}
here=$(cd "$(dirname "$0")" && pwd)
pom=$here/kafka/pom.xml
link_path=$(cd "$venv_bin/.." && pwd)/kafka-lib

fail() { echo "kafka: $*" >&2; exit 1; }

link() {  # link directory $1 as VENV/kafka-lib and name the broker jar in it
  ln -sfn "$1" "$link_path"
  echo "kafka: linked $1 as $link_path ($(cd "$1" && ls kafka_2.13-*.jar | head -1))"
}

check_java() {  # the broker needs Java 17+; without it the tests skip with that reason
  if command -v java >/dev/null; then
    echo "kafka: java: $(java -version 2>&1 | head -1)"
  else
    echo "kafka: no java on PATH: the Kafka tests will skip (install a Java 17 runtime)"
  fi
}

case $kafka in
  skip)
    echo "kafka: skipped (KAFKA=skip): no Kafka jars linked, the Kafka tests skip"
    exit 0 ;;
  fetch) ;;
  *)
    dir=$(readlink -f "$kafka")
    compgen -G "$dir/kafka_2.13-*.jar" >/dev/null || fail "KAFKA=$kafka: no kafka_2.13-*.jar in that directory"
    link "$dir"
    check_java
    exit 0 ;;
esac

version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
[ -n "$version" ] || fail "tools/kafka/pom.xml sets no <kafka.version>"
cache=${XDG_CACHE_HOME:-$HOME/.cache}/podforge/kafka-$version
key=$(sha256sum < "$pom" | cut -d' ' -f1)
if [ "$(cat "$cache/fetched" 2>/dev/null)" = "$key" ] && compgen -G "$cache/lib/kafka_2.13-$version.jar" >/dev/null; then
  echo "kafka: reusing Kafka $version from $cache/lib"
else
  command -v mvn >/dev/null || fail "mvn not found: install Maven (it fetches tools/kafka/pom.xml's jars) or set KAFKA"
  rm -rf "$cache"
  mkdir -p "$cache/lib"
  echo "kafka: fetching Kafka $version (org.apache.kafka:kafka_2.13 and its runtime dependencies) from Maven Central"
  start=$SECONDS
  mvn -q -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$cache/lib" \
    || fail "mvn dependency:copy-dependencies failed (tools/kafka/pom.xml; its output is above)"
  echo "kafka: fetched $(ls "$cache/lib" | wc -l) jars ($(du -sh "$cache/lib" | cut -f1)) in $((SECONDS - start)) s"
  echo "$key" > "$cache/fetched"
fi
link "$cache/lib"
check_java
