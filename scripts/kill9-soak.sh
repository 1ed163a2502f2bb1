#!/usr/bin/env bash
# Power-loss soak for the identity lifecycle: SIGKILL the daemon at 100 points (50 during enrolment,
# 50 during rotation) and check after each restart that it ends with one valid committed identity.
# The test suite runs the same test with 20 points. Needs a build (npm run build) and scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
EGW_KILL_POINTS="${EGW_KILL_POINTS:-50}" exec npx vitest run test/integration/identity-kill9.test.ts
