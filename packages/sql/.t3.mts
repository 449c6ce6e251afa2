import { classifyMysql, MysqlClassifier } from './src/index.js';
for (const t of process.argv.slice(2)) console.log(JSON.stringify(classifyMysql(t)));
