/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (c) 2026 meshgate authors
 */

/* The names of esp's drop reasons (mg_esp_drop.h). */

#include "mg_esp_drop.h"

static const char *const names[MG_DROP_ESP_END] = {
	[MG_DROP_ESP_REQUIRED] = "esp_required",
	[MG_DROP_ESP_UNKNOWN_SPI] = "esp_unknown_spi",
	[MG_DROP_ESP_REPLAY] = "esp_replay",
	[MG_DROP_ESP_OUT_OF_WINDOW] = "esp_out_of_window",
	[MG_DROP_ESP_BAD_ICV] = "esp_bad_icv",
	[MG_DROP_ESP_SEQ_EXHAUSTED] = "esp_seq_exhausted",
	[MG_DROP_ESP_CRYPTO_FULL] = "esp_crypto_full",
	[MG_DROP_ESP_WRONG_PEER] = "esp_wrong_peer",
	[MG_DROP_ESP_WRONG_QUEUE] = "esp_wrong_queue",
};

const struct mg_drop_stage mg_esp_drop_stage = {
	.name = "esp",
	.first = MG_DROP_ESP_FIRST,
	.end = MG_DROP_ESP_END,
	.names = names,
};
