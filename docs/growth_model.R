#!/usr/bin/env Rscript
# A logistic growth model of each attention head's induction score, fitted in R to a workbench export.
#
#   python -m workbench export runs/induction --out tables      # or a --seeds group: runs/indseeds
#   Rscript docs/growth_model.R tables growth.csv
#
# Base R only (read.csv, nls with the self-starting four-parameter logistic SSfpl): no packages to install.
# Model per head: score(t) = A + (B - A) / (1 + exp((xmid - t) / scal)), the workbench's fit_logistic with
# lo = A, hi = B, t_mid = xmid, w = scal; the logistic onset is xmid - 2 scal (12% of the rise). Heads whose score moves by less than
# 0.1 have no rise to model and are left out. The last lines compare R's midpoints with the workbench's
# onsets table, and show the wide layout (one column per step) that lavaan's growth models expect.

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else "tables"
d <- read.csv(file.path(dir, "head_scores.csv"), stringsAsFactors = FALSE)  # NA strings are R's own
needed <- c("run", "seed", "step", "group", "statistic", "site", "layer", "head", "value", "unit")
stopifnot(identical(names(d), needed))
ind <- d[d$statistic == "induction", ]
cat(sprintf("%d induction records, unit: %s\n", nrow(ind), unique(ind$unit)))

rows <- list()
for (key in unique(paste(ind$run, ind$layer, ind$head))) {
  h <- ind[paste(ind$run, ind$layer, ind$head) == key, ]
  h <- h[order(h$step), ]
  if (diff(range(h$value)) < 0.1) next
  fit <- tryCatch(nls(value ~ SSfpl(step, A, B, xmid, scal), data = h), error = function(e) NULL)
  if (is.null(fit)) next
  co <- summary(fit)$coefficients
  rows[[key]] <- data.frame(run = h$run[1], layer = h$layer[1], head = h$head[1],
                            before = co["A", 1], after = co["B", 1], midpoint = co["xmid", 1], midpoint_se = co["xmid", 2],
                            scale = co["scal", 1], onset = co["xmid", 1] - 2 * co["scal", 1])
}
if (length(rows) == 0) stop("no head's induction score rises by 0.1: nothing to model")
growth <- do.call(rbind, rows)
rownames(growth) <- NULL
print(growth)

onsets <- read.csv(file.path(dir, "onsets.csv"), stringsAsFactors = FALSE)
both <- merge(growth, onsets[onsets$run != "across seeds", c("run", "layer", "head", "logistic_midpoint")])
cat("R's midpoints against the workbench's (steps):\n")
print(both[, c("run", "layer", "head", "midpoint", "logistic_midpoint")])

wide <- reshape(ind[ind$layer == growth$layer[1] & ind$head == growth$head[1], c("run", "step", "value")],
                idvar = "run", timevar = "step", direction = "wide")
cat(sprintf("wide layout for lavaan: %d row(s) x %d columns\n", nrow(wide), ncol(wide)))
if (length(args) >= 2) write.csv(growth, args[2], row.names = FALSE)
