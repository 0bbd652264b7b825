#!/usr/bin/env bash
# Regenerates src/enrich/dictionary.txt, the word list keyword segmentation uses, from the
# dictionary of jieba 0.42.1 (MIT licence, Copyright (c) 2013 Sun Junyi), fetched with pip.
#
#   bash scripts/build_dictionary.sh
#
# Output: one `word frequency` line per word, part-of-speech tags dropped, duplicates removed,
# sorted bytewise (the segmenter binary-searches it in place). The pinned SHA-256 makes the
# output reproducible; src/enrich/segment.rs tests that the file is sorted and well formed.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --no-deps --disable-pip-version-check --quiet --dest "$work" jieba==0.42.1
echo "055ca12f62674fafed09427f176506079bc135638a14e23e25be909131928db2  $work/jieba-0.42.1.tar.gz" \
  | sha256sum --check --quiet
tar -xzf "$work/jieba-0.42.1.tar.gz" -C "$work" jieba-0.42.1/jieba/dict.txt
# A space sorts before every byte a word can hold, so sorting lines sorts words.
awk '{ print $1 " " $2 }' "$work/jieba-0.42.1/jieba/dict.txt" | LC_ALL=C sort -u > src/enrich/dictionary.txt
wc -l src/enrich/dictionary.txt
