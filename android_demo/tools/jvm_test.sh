#!/usr/bin/env bash
# Compile android_demo/core (plain Kotlin, no Android SDK) and its unit tests with kotlinc, run them with JUnit 4.
# What Gradle's `:core:test` runs, for machines without Gradle or Maven access (this repository's CI).
#   tools/jvm_test.sh [--check] [-Dfsredge.vectors=DIR]
# Needs: kotlinc (KOTLINC, on PATH, or npm's kotlin-compiler package), a JDK >= 17, JUnit 4 + hamcrest and an
# org.json implementation (Debian: junit4 libhamcrest-java libandroid-json-java; override with JUNIT_JAR,
# HAMCREST_JAR, ORG_JSON_JAR). Exit 3 when something is missing (the message says what).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

kotlinc="${KOTLINC:-$(command -v kotlinc || true)}"
if [[ -z "$kotlinc" ]] && command -v npm >/dev/null; then
  cand="$(npm root -g 2>/dev/null)/kotlin-compiler/bin/kotlinc"
  [[ -x "$cand" ]] && kotlinc="$cand"
fi
junit="${JUNIT_JAR:-/usr/share/java/junit4.jar}"
hamcrest="${HAMCREST_JAR:-/usr/share/java/hamcrest-core.jar}"
orgjson="${ORG_JSON_JAR:-/usr/share/java/com.android.json.jar}"
missing=()
[[ -n "$kotlinc" ]] || missing+=("kotlinc (npm install -g kotlin-compiler, or set KOTLINC)")
command -v java >/dev/null || missing+=("java (a JDK >= 17)")
for jar in "$junit" "$hamcrest" "$orgjson"; do [[ -f "$jar" ]] || missing+=("$jar"); done
if (( ${#missing[@]} )); then
  echo "jvm_test: missing: ${missing[*]}" >&2
  exit 3
fi
[[ "${1:-}" == "--check" ]] && { echo "jvm_test: ready ($kotlinc)"; exit 0; }

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cp="$junit:$hamcrest:$orgjson"
"$kotlinc" -nowarn "$here/core/src/main/kotlin" "$here/core/src/test/kotlin" -cp "$cp" -d "$out/classes" 2>&1 \
  | grep -v '^warning: unable to find kotlin-stdlib' || true
[[ -d "$out/classes" ]] || { echo "jvm_test: compilation failed" >&2; exit 1; }
stdlib="$(dirname "$(dirname "$(readlink -f "$kotlinc")")")/lib/kotlin-stdlib.jar"
classes=$(cd "$out/classes" && find . -name '*Test.class' | sed 's|^\./||; s|\.class$||; s|/|.|g' | sort)
java "$@" -cp "$out/classes:$cp:$stdlib" org.junit.runner.JUnitCore $classes
