#!/usr/bin/env bash
# Build (once) and run the Java example that produces an Avro ProposalSubmitted to Kafka.
#   KAFKA_PASSWORD=... examples/java-producer/run.sh --bootstrap 127.0.0.1:19092 \
#       --topic flywheel.proposals --username flywheel-proposer \
#       --tool shell.exec --arguments '{"cmd": "ls"}' [--proposer ID] [--session ID] ...
# Prints the proposal id. The writer schema defaults to the newest released snapshot of
# ProposalSubmitted in schemas/history/ (pass --schema to use another kept version).
# Build outputs go to $FLYWHEEL_EXAMPLE_BUILD_DIR (default: the user's cache directory), never
# into the repository. Needs Java 17+ and Maven; dependencies come from Maven Central.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${FLYWHEEL_EXAMPLE_BUILD_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/alignment-flywheel/examples/java-producer}"
schema="$(ls -v "$repo"/schemas/history/ProposalSubmitted/v*.avsc | tail -n 1)"
mkdir -p "$build"
mvn -q -B -Dstyle.color=never -f "$here/pom.xml" "-Dflywheel.build.dir=$build" \
    compile dependency:build-classpath "-Dmdep.outputFile=$build/classpath.txt" >&2
exec java -cp "$build/classes:$(cat "$build/classpath.txt")" \
    io.github.alignmentflywheel.examples.ProduceProposal --schema "$schema" "$@"
