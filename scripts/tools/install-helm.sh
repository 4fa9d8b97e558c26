#!/usr/bin/env bash
# Placeholder until the chart lands: helm is not needed yet.
exit 0
