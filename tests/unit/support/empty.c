/* keeps the support library non-empty */
typedef int mos_test_support_empty;
