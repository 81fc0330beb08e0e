#!/usr/bin/env bash
# Makes chr20_snvs_indels.vcf.gz (+ .tbi, .csi), the indexed VCF of the `variants --region` tests:
# the shared chr20 SNVs and indels (../shared/data/variants, see README.md), their first 8
# columns, sorted by position, bgzipped and indexed by htslib's own tools (Debian's tabix and
# bcftools), so the index the tests read is not one seqcnn wrote.
set -euo pipefail
S="${1:-../../../../shared/data/variants}"
cd "$(dirname "$0")"
{
    zcat "$S/chr20_snvs.vcf.gz" | grep "^#" | cut -f1-8
    { zcat "$S/chr20_snvs.vcf.gz" | grep -v "^#" | cut -f1-8
      zcat "$S/chr20_indels.vcf.gz" | grep -v "^#" | cut -f1-8; } | sort -k1,1 -k2,2n
} | bgzip -c > chr20_snvs_indels.vcf.gz
tabix -f -p vcf chr20_snvs_indels.vcf.gz
bcftools index -c -f chr20_snvs_indels.vcf.gz
# Records bcftools selects, for the tests' plain filter to agree with:
for r in 20:30000000-31000000 20:1-2000000 20:50018400-50018402 20:60000000-63025520; do
    echo "$r $(bcftools view -H -r "$r" chr20_snvs_indels.vcf.gz 2>/dev/null | wc -l)"
done

# chr20_30M_calls.vcf.gz (+ .tbi): the slice's real SNVs and indels and the synthetic records
# (but the one named chr20, which tabix would take for another contig), first 8 columns,
# sorted, bgzipped and indexed: the workflow's demo of sharding variants by region.
{
    grep "^##" synthetic.vcf
    grep "^#CHROM" synthetic.vcf | cut -f1-8
    cat chr20_30M_snvs.vcf chr20_30M_indels.vcf synthetic.vcf | grep -v "^#" | awk -F'\t' '$1 == "20"' \
        | cut -f1-8 | sort -k1,1 -k2,2n
} | bgzip -c > chr20_30M_calls.vcf.gz
tabix -f -p vcf chr20_30M_calls.vcf.gz
