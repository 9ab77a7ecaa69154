// Search results: the course, its appendices and API first; the check notebooks (edge cases and error paths of each
// notebook) after all of them. Sphinx's own weights otherwise (sphinx/themes/basic/static/searchtools.js).
var Scorer = {
  score: result => {
    const [docname, title, anchor, descr, score, filename, kind] = result;
    return docname.startsWith('checks/') ? score - 1000 : score;
  },
  objNameMatch: 11,
  objPartialMatch: 6,
  objPrio: {0: 15, 1: 5, 2: -5},
  objPrioDefault: 0,
  title: 15,
  partialTitle: 7,
  term: 5,
  partialTerm: 2,
};
